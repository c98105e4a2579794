"""What ``_summary`` and ``_elements`` leave of a FHIR resource, computed independently of
santeid from fhir.resources' R4B models, whose fields carry R4's isSummary flag
(``summary_element_property``): https://hl7.org/fhir/R4/search.html#summary, #elements. The
resource types and data types santeid writes are the same in R4 and R4B."""

from __future__ import annotations

import typing

from fhir.resources.R4B import get_fhir_model_class

#: The tag of a subsetted resource (https://hl7.org/fhir/R4/search.html#summary).
SUBSETTED_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"


def _model_name(annotation: typing.Any) -> str | None:
    """The FHIR type of a field of a fhir.resources model (``IdentifierType`` → ``Identifier``),
    ``None`` for a primitive."""
    name = getattr(annotation, "__name__", "")
    if name.endswith("Type") and name != "Type":
        return name[: -len("Type")]
    for argument in typing.get_args(annotation):
        found = _model_name(argument)
        if found:
            return found
    return None


def summary_of(value: typing.Any, type_name: str) -> typing.Any:
    """``value`` (a resource or a data type, as JSON) with only its summary elements, at every
    depth."""
    if isinstance(value, list):
        return [summary_of(item, type_name) for item in value]
    if not isinstance(value, dict):
        return value
    model = get_fhir_model_class(type_name)
    kept: dict = {}
    for key, item in value.items():
        if key == "resourceType":
            kept[key] = item
            continue
        field = model.model_fields[key]
        if not (field.json_schema_extra or {}).get("summary_element_property"):
            continue
        child = _model_name(field.annotation)
        kept[key] = summary_of(item, child) if child else item
    return kept


def mandatory_elements(type_name: str) -> set[str]:
    """The top-level elements R4 makes mandatory (minimum cardinality 1) on ``type_name``."""
    fields = get_fhir_model_class(type_name).model_fields
    return {k for k, f in fields.items() if (f.json_schema_extra or {}).get("element_required")}


def is_subsetted(resource: dict) -> bool:
    """Whether ``resource`` carries the SUBSETTED tag."""
    tags = resource.get("meta", {}).get("tag", [])
    return any((t.get("system"), t.get("code")) == (SUBSETTED_SYSTEM, "SUBSETTED") for t in tags)


def without_subsetted_tag(resource: dict) -> dict:
    """``resource`` without its SUBSETTED tag (and without ``meta`` if nothing else is left)."""
    meta = dict(resource.get("meta", {}))
    tags = [t for t in meta.pop("tag", []) if t.get("code") != "SUBSETTED"]
    if tags:
        meta["tag"] = tags
    stripped = {k: v for k, v in resource.items() if k != "meta"}
    if meta:
        stripped = {"resourceType": resource["resourceType"], "meta": meta, **stripped}
    return stripped
