"""CAS client: python-cas builds the URLs and knows the protocol versions; we do the HTTP and
the XML ourselves.

Why not ``CASClient.verify_ticket`` as it is: python-cas 1.x calls ``requests`` without a
timeout (a hung CAS server would hang a web worker), reads the whole body whatever its size,
parses it with ``xml.etree`` (entity expansion), answers ``None`` on failure so the CAS error
code is lost, and parses Single Logout requests with lxml. Here the validation response is read
with a connect/read timeout and an overall deadline, cut off past a size limit, and parsed with
defusedxml (no DTD, no entities); python-cas's own attribute parser then reads the elements.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import cas
import requests
from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeET

CAS_NS = "{http://www.yale.edu/tp/cas}"
SAMLP_NS = "{urn:oasis:names:tc:SAML:2.0:protocol}"


class CasError(Exception):
    """Validation failed; ``code`` is the CAS error code (INVALID_TICKET, INVALID_SERVICE …) or
    one of ours (CAS_UNAVAILABLE, INVALID_RESPONSE)."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class CasResult:
    user: str
    attributes: dict[str, Any]


def read_limited(response: requests.Response, max_bytes: int, deadline: float) -> bytes:
    """The body, or CasError when it is larger than ``max_bytes`` or arrives too slowly."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(chunk_size=16384):
        size += len(chunk)
        if size > max_bytes:
            raise CasError("INVALID_RESPONSE", f"CAS 服务器的响应超过 {max_bytes} 字节")
        if time.monotonic() > deadline:
            raise CasError("CAS_UNAVAILABLE", "CAS 服务器响应超时")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_xml(body: bytes | str) -> Any:
    """defusedxml: a DTD (and so any entity) is refused outright."""
    try:
        return SafeET.fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (DefusedXmlException, SafeET.ParseError, ValueError) as exc:
        raise CasError("INVALID_RESPONSE", f"CAS 服务器的响应不是可接受的 XML（{type(exc).__name__}）") from exc


class CasClient:
    def __init__(self, server_url: str, service_url: str, version: str = "3", *, timeout: float = 10,
                 max_bytes: int = 256 * 1024, http: requests.Session | None = None):
        self.server_url = server_url
        self.service_url = service_url
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.http = http or requests.Session()
        self.protocol = cas.CASClient(version=version, server_url=server_url, service_url=service_url,
                                      session=self.http)

    def login_url(self) -> str:
        return self.protocol.get_login_url()

    def logout_url(self, redirect_url: str | None = None) -> str:
        return self.protocol.get_logout_url(redirect_url)

    def validate(self, ticket: str) -> CasResult:
        """Ask the CAS server about a service ticket (``/p3/serviceValidate`` or ``/serviceValidate``)."""
        url = urljoin(self.server_url, self.protocol.url_suffix)
        deadline = time.monotonic() + self.timeout
        try:
            with self.http.get(url, params={"ticket": ticket, "service": self.service_url}, stream=True,
                               timeout=(min(self.timeout, 5), self.timeout), allow_redirects=False) as resp:
                if resp.status_code != 200:
                    raise CasError("CAS_UNAVAILABLE", f"CAS 服务器返回 HTTP {resp.status_code}")
                body = read_limited(resp, self.max_bytes, deadline)
        except requests.RequestException as exc:
            raise CasError("CAS_UNAVAILABLE", f"无法连接 CAS 服务器（{type(exc).__name__}）") from exc
        return self.parse_validation(body)

    @classmethod
    def parse_validation(cls, body: bytes | str) -> CasResult:
        root = parse_xml(body)
        if root.tag != CAS_NS + "serviceResponse":
            raise CasError("INVALID_RESPONSE", "CAS 服务器的响应不是 serviceResponse")
        failure = root.find(CAS_NS + "authenticationFailure")
        if failure is not None:
            code = (failure.get("code") or "UNKNOWN").strip()[:64]
            raise CasError(code, (failure.text or "").strip()[:200] or "认证失败")
        success = root.find(CAS_NS + "authenticationSuccess")
        user = success.findtext(CAS_NS + "user") if success is not None else None
        if not user or not user.strip():
            raise CasError("INVALID_RESPONSE", "CAS 服务器的响应缺少 cas:user")
        attributes: dict[str, Any] = {}
        element = success.find(CAS_NS + "attributes")
        if element is not None:
            attributes = cas.CASClientV3.parse_attributes_xml_element(element)
        return CasResult(user.strip(), attributes)


def parse_logout_request(body: str, max_bytes: int) -> str | None:
    """The service ticket named by a SAML ``LogoutRequest`` (CAS Single Logout), or None."""
    if not body or len(body.encode()) > max_bytes:
        return None
    try:
        root = parse_xml(body)
    except CasError:
        return None
    if root.tag != SAMLP_NS + "LogoutRequest":
        return None
    index = root.find(SAMLP_NS + "SessionIndex")
    text = (index.text or "").strip() if index is not None else ""
    return text[:255] or None
