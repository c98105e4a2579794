"""``/insi/soap``: the INSi teleservice over SOAP 1.2 (docs/reference/insi-teleservice.md §1–§8).

* ``POST /insi/soap`` — one SOAP 1.2 request (``application/soap+xml; action="…"``, or the
  action in ``wsa:Action``); answer ``RESULTAT`` / ``ReponseUnitaire`` or a SOAP fault.
* ``GET /insi/soap?wsdl`` — the search WSDL (the two operations of INSi's WSDL), its address
  pointing at this server; ``GET /insi/soap/verification?wsdl`` — the verification WSDL (INSi
  publishes it apart), whose address ``/insi/soap/verification`` answers the same requests.
* ``GET /insi/soap?xsd=NAME`` — the schemas the WSDLs import.

A request goes through, in order: media type → size → hardened parse (no DTD, depth) →
envelope structure and SOAP version → ``mustUnderstand`` → headers (``ContexteLPS``,
``ContexteBAM`` against their XSD) → action → body against its XSD → authentication
(assertion, certificate) → software authorisation number (IDAM) → the core
(``santeid.insi.service``) → the answer. Any failure is a SOAP fault
(:mod:`santeid.insi.soap.faults`); the error handlers of this blueprint turn everything else —
413, 405, 404, a bug — into one too, never an HTML page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from flask import Blueprint
from flask import Response
from flask import g
from flask import request
from lxml import etree
from werkzeug.exceptions import HTTPException

from santeid import error_formats
from santeid.cache_control import no_store
from santeid.civil_status.traits import TraitError
from santeid.insi.model import OP_SEARCH_TRAITS
from santeid.insi.model import OP_SEARCH_VITALE
from santeid.insi.model import CallContext
from santeid.insi.model import InsiError
from santeid.insi.model import unknown_software
from santeid.insi.problems import served_origin
from santeid.insi.soap import bodies
from santeid.insi.soap import faults
from santeid.insi.soap import render
from santeid.insi.soap import schemas
from santeid.insi.soap.authentication import attempted_method
from santeid.insi.soap.authentication import authenticate
from santeid.insi.soap.envelope import not_understood
from santeid.insi.soap.envelope import parse_document
from santeid.insi.soap.envelope import read_envelope
from santeid.insi.soap.faults import SoapFault
from santeid.insi.soap.headers import RequestHeaders
from santeid.insi.soap.headers import media_action
from santeid.insi.soap.headers import media_charset
from santeid.insi.soap.headers import message_id_of
from santeid.insi.soap.headers import operation_for
from santeid.insi.soap.headers import read_headers
from santeid.insi.soap.protocol import SOAP11_MEDIA_TYPE
from santeid.insi.soap.protocol import SOAP12_MEDIA_TYPE
from santeid.insi.soap.protocol import Operation
from santeid.insi.soap.wsdl_documents import VERIFY_SUFFIX
from santeid.insi.soap.wsdl_documents import served_wsdl
from santeid.insi.soap.wsdl_documents import served_xsd
from santeid.services import services

log = logging.getLogger(__name__)
Q = TypeVar("Q")

PATH = "/insi/soap"
VERIFY_PATH = PATH + VERIFY_SUFFIX
bp = Blueprint("insi_soap", __name__)

#: Media types read as a SOAP message. SOAP 1.2's is ``application/soap+xml`` (RFC 3902);
#: ``text/xml`` is SOAP 1.1's (answered with a VersionMismatch when the envelope is 1.1).
ACCEPTED_MEDIA_TYPES = (SOAP12_MEDIA_TYPE, SOAP11_MEDIA_TYPE, "application/xml")
#: OPTIONS listed so that Flask does not answer it by itself (its automatic answer is an empty
#: HTML page whose ``Allow`` names every method): it gets the 405 fault like the others.
_ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
#: What the 405 faults say the endpoint answers.
_ALLOW = "GET, HEAD, POST"


def endpoint_url() -> str:
    """The search endpoint's absolute URL, as the WSDLs name it: on the configured public
    origin (:func:`santeid.insi.problems.served_origin`), never the request's ``Host``."""
    return f"{served_origin(services().settings)}{request.script_root}{PATH}"


def _xml(body: bytes, status: int = 200, media: str = SOAP12_MEDIA_TYPE) -> Response:
    response = Response(body, status=status, mimetype=media)
    response.headers["Content-Type"] = f"{media}; charset=utf-8"
    return no_store(response)


@bp.route(PATH, methods=_ALL_METHODS)
@bp.route(VERIFY_PATH, methods=_ALL_METHODS)
def endpoint() -> Response:
    """``POST``: a SOAP call; ``GET`` (and ``HEAD``, its headers): the WSDL or a schema;
    anything else: a 405 fault."""
    if request.method == "POST":
        return _call()
    if request.method in ("GET", "HEAD"):
        return _documents()
    raise faults.transport(
        405, "santeid_http_method", f"{request.method} is not allowed here: POST a SOAP 1.2 "
        "request, or GET ?wsdl", Allow=_ALLOW,
    )  # fmt: skip


def _documents() -> Response:
    """``?wsdl`` (any case, WSDL 1.1 convention) or ``?xsd=NAME``."""
    args = {key.lower(): value for key, value in request.args.items()}
    if "wsdl" in args:
        verification = request.path.endswith(VERIFY_SUFFIX)
        response = _xml(served_wsdl(endpoint_url(), verification), media="text/xml")
    elif "xsd" in args:
        try:
            response = _xml(served_xsd(args["xsd"], endpoint_url()), media="text/xml")
        except KeyError:
            raise faults.transport(
                404, "santeid_not_found", f"no schema named {args['xsd']!r}"
            ) from None
    else:
        raise faults.transport(
            405, "santeid_http_method", "POST a SOAP 1.2 request; the WSDL is at ?wsdl",
            Allow=_ALLOW,
        )  # fmt: skip
    # Private caches only, briefly: the documents change when santeid is upgraded.
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


def _call() -> Response:
    if request.mimetype not in ACCEPTED_MEDIA_TYPES:
        raise faults.transport(
            415, "santeid_media_type",
            f"media type {request.mimetype or '(none)'!r} is not SOAP 1.2: send "
            f"{SOAP12_MEDIA_TYPE}",
        )  # fmt: skip
    content_type = request.headers.get("Content-Type")
    envelope = read_envelope(
        parse_document(request.get_data(cache=False), media_charset(content_type))
    )
    g.insi_soap_message_id = message_id_of(envelope)
    missing = not_understood(envelope)
    if missing:
        raise faults.must_understand(missing, g.insi_soap_message_id)
    headers = read_headers(envelope)
    operation = operation_for(envelope, headers, media_action(content_type))
    schemas.validate(envelope.payload, headers.message_id)
    svc = services()
    context = _authorised_context(headers, operation, svc)
    # Never a SOAP header in the answer, as the real service (docs/reference/insi-teleservice.md
    # §5).
    return _xml(_answer(operation, envelope.payload, context, svc.insi))


def _authorised_context(headers: RequestHeaders, operation: Operation, svc) -> CallContext:
    """Authentication (docs/reference/insi-teleservice.md §7), then the software authorisation
    number (docs/reference/insi-teleservice.md §3)."""
    try:
        context = authenticate(headers, svc.settings)
    except InsiError as error:
        _audit_refusal(
            CallContext(
                software_id=headers.idam or "",
                structure_id=headers.emitter,
                professional_id=None,
                channel="soap",
                auth_method=attempted_method(headers, svc.settings),
            ),
            operation,
            error,
        )
        raise
    idam = headers.idam
    if idam is None or svc.insi.software().get(idam) is None:
        refusal = unknown_software()
        _audit_refusal(context, operation, refusal)
        raise refusal
    return context


def _audit_refusal(context: CallContext, operation: Operation, error: InsiError) -> None:
    services().insi.record_refusal(context, operation.name, error)


def _query(read: Callable[[etree._Element], Q], operation: Operation, payload, context, insi) -> Q:
    """The query of the body (:mod:`santeid.insi.soap.bodies`). The caller is authenticated: a
    body refused here is audited, as the core's refusals are."""
    with insi.refusal_recorded(context, operation.name):
        return read(payload)


def _answer(operation: Operation, payload, context: CallContext, insi) -> bytes:
    if operation.name == OP_SEARCH_TRAITS:
        traits = _query(bodies.traits_query, operation, payload, context, insi)
        return render.search_answer(insi.search_by_traits(traits, context))
    if operation.name == OP_SEARCH_VITALE:
        vitale = _query(bodies.vitale_query, operation, payload, context, insi)
        return render.search_answer(insi.search_by_vitale(vitale, context))
    query = _query(bodies.verify_query, operation, payload, context, insi)
    result = insi.verify(query, context)
    return render.envelope(render.reponse_unitaire(query, result, bodies.supplied_oid(payload)))


# -- errors ---------------------------------------------------------------------------------
def _fault_of(exc: Exception) -> SoapFault:
    message_id = g.get("insi_soap_message_id")
    if isinstance(exc, SoapFault):
        if exc.message_id is None and not exc.soap11:
            exc.message_id = message_id
        return exc
    if isinstance(exc, InsiError):
        # The fault says nothing of the cause (a missing civil-status base…): the log does.
        if exc.detail:
            log.warning("INSi SOAP fault %s: %s", exc.code, exc.detail)
        return faults.from_insi_error(exc, message_id)
    if isinstance(exc, TraitError):
        return faults.from_trait_error(exc, message_id)
    if isinstance(exc, HTTPException):
        code = exc.code or 400
        error_code = {
            404: "santeid_not_found",
            405: "santeid_http_method",
            413: "santeid_xml_too_large",
            415: "santeid_media_type",
        }.get(code, "santeid_invalid_request")
        if code >= 500:
            return faults.internal_error(message_id)
        return faults.transport(code, error_code, exc.description or exc.name)
    from santeid.insi.model import outage
    from santeid.security import ParameterTooLarge

    if isinstance(exc, ParameterTooLarge):
        return faults.transport(400, "santeid_invalid_request", str(exc))
    if outage(exc) is None:  # an outage is logged as one, and answered as any fault of ours
        log.exception("unhandled error on %s %s", request.method, request.path)
    return faults.internal_error(message_id)


def handle_error(exc: Exception) -> Response:
    """Every error raised in this blueprint, as a SOAP fault."""
    fault = _fault_of(exc)
    try:
        sender_400 = services().settings.insi.soap_sender_400
    except Exception:  # an error handler never fails: the real service's status then
        sender_400 = False
    status = fault.status_for(sender_400=sender_400)
    response = Response(fault.render(), status=status)
    response.headers["Content-Type"] = fault.content_type
    no_store(response)
    for name, value in fault.headers.items():
        response.headers[name] = value
    return response


# SOAP faults for every error of these URLs, routing errors included.
error_formats.declare(bp, error_formats.SOAP, render=handle_error, prefixes=[PATH])


def init_app(app) -> None:
    """Register the blueprint (called by ``santeid.insi.init_app``)."""
    app.register_blueprint(bp)
