"""``[admin]``: the admin console (santeid.admin, docs/operations.md)."""

from __future__ import annotations

from pydantic import Field
from pydantic import field_validator

from santeid.settings.base import ConfigurationError
from santeid.settings.base import Section


def professional_ids(text: str) -> frozenset[str]:
    """The normalised national identifiers of ``admin_professionals`` (comma- or
    space-separated); a malformed one is a :class:`ConfigurationError` naming it."""
    from santeid.psc.national_id import NationalIdError
    from santeid.psc.national_id import parse_national_id

    allowed = set()
    for typed in text.replace(",", " ").split():
        try:
            allowed.add(parse_national_id(typed).value)
        except NationalIdError as exc:
            raise ConfigurationError(
                f"admin_professionals: {typed!r} is not a national identifier ({exc.message('en')})"
            ) from None
    return frozenset(allowed)


class AdminSettings(Section):
    flat_prefix = "admin_"

    #: Argon2id hash of the admin console's password (``santeid admin set-password``); empty =
    #: ``/admin`` off (sandbox mode: the documented demo admin).
    password_hash: str = Field(default="", repr=False)
    #: National identifiers (comma- or space-separated) of the professionals allowed into the
    #: admin console through santeid's own login (e-CPS, or CPS card when installed).
    professionals: str = ""

    @field_validator("password_hash")
    @classmethod
    def _argon2_hash(cls, value: str) -> str:
        """Empty, or an Argon2 hash: a mangled value would otherwise make every sign-in a wrong
        password, with nothing logged. The value is not repeated in the message."""
        from santeid.ecps.pin import is_hash

        if value and not is_hash(value):
            raise ValueError(
                "is not an Argon2 hash as `santeid admin set-password` prints it "
                "($argon2id$v=19$m=…,t=…,p=…$<salt>$<hash>). Its $ signs may have been "
                "expanded on the way: in a shell, put the hash in single quotes (not double); "
                "in compose.yaml, write each $ as $$; in the TOML file, use a literal string "
                "('…') or the double quotes set-password prints"
            )
        return value

    @field_validator("professionals")
    @classmethod
    def _national_ids(cls, value: str) -> str:
        professional_ids(value)  # raises, naming the bad entry
        return value
