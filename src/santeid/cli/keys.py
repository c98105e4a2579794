"""``santeid keys``: generate, prepare, rotate and list the keys of the keys directory
(docs/keys.md)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import click

from santeid.cli import COMMANDS
from santeid.cli import get_settings
from santeid.keys.vapid import make_vapid_key
from santeid.keys.vapid import vapid_key_path
from santeid.keystore import HMAC_ALGORITHM
from santeid.keystore import RSA_KEY_SIZES
from santeid.keystore import STORED_ALGORITHMS
from santeid.keystore import KeyInfo
from santeid.keystore import KeysNotWritable
from santeid.keystore import KeyStore
from santeid.keystore import KeyStoreError
from santeid.keystore import server_algorithms

_ALG_OPTION_HELP = (
    f"JWS algorithm (RFC 7518 §3); {HMAC_ALGORITHM} is the refresh-token secret, never published."
)
_BITS_OPTION_HELP = "RSA modulus size for RS256/PS256 (default 2048, or the size being replaced)."


def _admin_event(reason: str, kid: str) -> None:
    from santeid.observability.events import ADMIN_KEY
    from santeid.observability.events import record_command

    record_command(get_settings(), ADMIN_KEY, reason, details={"kid": kid})


def _store() -> KeyStore:
    settings = get_settings()
    return KeyStore(
        settings.keys_path,
        retired_key_lifetime=settings.oidc.longest_token_lifetime,
        default_alg=settings.oidc.signing_alg,
    )


@contextmanager
def _errors(store_dir: str) -> Iterator[None]:
    """Turn key store problems into one-line messages and exit status 1, no traceback."""
    try:
        yield
    except KeyStoreError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:  # the Web Push key's file: read-only file system, disk full…
        raise click.ClickException(str(KeysNotWritable.because(store_dir, exc))) from None


def _where(store: KeyStore) -> str:
    return f"{store.path}/"


def _time(value: datetime | None) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M:%SZ")


@click.group(help=COMMANDS["keys"])
def keys() -> None:
    pass


@keys.command()
@click.option("--alg", type=click.Choice(STORED_ALGORITHMS), default=None, help=_ALG_OPTION_HELP)
@click.option("--bits", type=click.Choice([str(b) for b in RSA_KEY_SIZES]), help=_BITS_OPTION_HELP)
def generate(alg: str | None, bits: str | None) -> None:
    """Create the keys a server needs, those missing (idempotent).

    Without --alg: the signing key of the signing_alg setting (RS256, as Pro Santé Connect),
    the refresh-token secret (HS512) and the Web Push key (vapid-private.pem). With --alg:
    an active key of that algorithm only (another signing algorithm, docs/keys.md).
    """
    settings = get_settings()
    algorithms = [alg] if alg else server_algorithms(settings)
    with _errors(settings.keys_dir):
        store = _store()
        for each in algorithms:
            before = {k.kid for k in store.list()}
            size = int(bits) if bits and each != HMAC_ALGORITHM else None
            info = store.generate(each, key_size=size)
            if info.kid in before:
                click.echo(
                    f"an active {each} key already exists in {_where(store)}: {info.kid} "
                    f"(nothing done; `santeid keys rotate --alg {each}` replaces it)"
                )
            else:
                click.echo(f"generated {each} key {info.kid} in {_where(store)}")
        if alg is None:
            made = make_vapid_key(settings.keys_path)
            done = "generated" if made else "kept"
            click.echo(f"{done} the Web Push key {vapid_key_path(settings.keys_path)}")


@keys.command()
@click.option("--alg", type=click.Choice(STORED_ALGORITHMS), default=None, help=_ALG_OPTION_HELP)
@click.option("--bits", type=click.Choice([str(b) for b in RSA_KEY_SIZES]), help=_BITS_OPTION_HELP)
def rotate(alg: str | None, bits: str | None) -> None:
    """Replace the active key; the old one is retired but stays published.

    --alg defaults to the algorithm of the current signing key. The new key is the one
    `santeid keys prepare` published, if any.

    The retired key stays in the JWK Set until every token it signed has expired, so
    running servers and relying parties keep verifying them. Servers pick the new key up
    within a few seconds, without a restart.
    """
    with _errors(get_settings().keys_dir):
        store = _store()
        active_before = {k.kid for k in store.list() if k.status == "active"}
        info = store.rotate(alg, key_size=int(bits) if bits else None)
        retired = [
            k
            for k in store.list()
            if k.kid in active_before and k.alg == info.alg and k.status == "retired"
        ]
    click.echo(f"rotated {info.alg} in {_where(store)}: new active key {info.kid}")
    _admin_event("rotate", info.kid)
    for old in retired:
        if old.alg == HMAC_ALGORITHM:
            click.echo(
                f"retired {old.kid}: refresh tokens it signed still verify until "
                f"{_time(old.published_until)} (never published)"
            )
        else:
            click.echo(
                f"retired {old.kid}: still published (tokens it signed verify) until "
                f"{_time(old.published_until)}"
            )
    if not retired:
        click.echo(f"(there was no active {info.alg} key to retire)")


@keys.command()
@click.option("--alg", type=click.Choice(STORED_ALGORITHMS), default=None, help=_ALG_OPTION_HELP)
@click.option("--bits", type=click.Choice([str(b) for b in RSA_KEY_SIZES]), help=_BITS_OPTION_HELP)
def prepare(alg: str | None, bits: str | None) -> None:
    """Publish the next key now; the next `rotate` makes it the active one (idempotent).

    --alg defaults to the algorithm of the current signing key.

    For keys folders copied to each host (a Kubernetes Secret): once every host has the
    prepared file, every host publishes the key, so the host that first receives the rotated
    file signs with a key all the others already publish (docs/keys.md).
    """
    with _errors(get_settings().keys_dir):
        store = _store()
        before = {k.kid for k in store.list()}
        info = store.prepare(alg, key_size=int(bits) if bits else None)
    done = "already prepared" if info.kid in before else "prepared"
    known = "verifies (never published)" if info.alg == HMAC_ALGORITHM else "published"
    click.echo(
        f"{done} {info.alg} key {info.kid} in {_where(store)}: {known} from now, signs from "
        f"the next `santeid keys rotate --alg {info.alg}`"
    )
    if info.kid not in before:
        _admin_event("prepare", info.kid)


@keys.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_(as_json: bool) -> None:
    """Show every key, and until when retired keys stay published."""
    with _errors(get_settings().keys_dir):
        store = _store()
        infos = store.list()
    if as_json:
        click.echo(json.dumps([i.as_json() for i in infos], indent=2))
        return
    if not infos:
        click.echo(f"no signing keys in {_where(store)}: run `santeid keys generate`")
        return
    click.echo(_table(infos))


def _table(infos: list[KeyInfo]) -> str:
    header = ("KID", "ALG", "SIZE", "STATUS", "CREATED", "RETIRED", "PUBLISHED UNTIL")
    rows = [header]
    for i in infos:
        if i.alg == HMAC_ALGORITHM and i.status == "retired":
            # The refresh tokens it signed keep verifying until then (docs/keys.md).
            until = f"verifies until {_time(i.published_until)} (never published)"
        elif i.alg == HMAC_ALGORITHM:
            until = "(never published)"
        elif i.status == "active":
            until = "(while active)"
        elif i.status == "next":
            until = "(next: signs after rotate)"
        else:
            until = _time(i.published_until) + ("" if i.published else " (unpublished)")
        rows.append(
            (
                i.kid,
                i.alg,
                str(i.key_size),
                i.status,
                _time(i.created_at),
                _time(i.retired_at),
                until,
            )
        )
    widths = [max(len(row[c]) for row in rows) for c in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
