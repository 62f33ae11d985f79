"""An OCPP 1.6 charge point with the security whitepaper's transports, on the independent
`ocpp` package (mobilityhouse) over `websockets`, for the security interop tests.

It connects as one charge point id with, as asked, HTTP Basic credentials (profile 1 and 2),
a TLS context trusting a CA file (profile 2), a client certificate (profile 3); then it sends
BootNotification. Every step is printed as one JSON object per line ("event" names it); the
last line is the report, {"event": "report", ...}, with everything that happened.

Without --stay it connects, boots and exits. With --stay it then (connected or not) answers the server's calls
(Reset, ChangeConfiguration of AuthorizationKey, CertificateSigned) and reads commands, one
a line, from standard input:

  sign        make a key and a CSR (cryptography) with CN = the id, send SignCertificate,
              and wait for CertificateSigned; the chain and the key go to --save-dir
              (ExtendedTriggerMessage(SignChargePointCertificate) does the same)
  reconnect   close and connect again, with the AuthorizationKey the server last set if it
              set one, and boot
  quit        close and report (end of input does the same)

Passwords: --password-hex sends the bytes the hex text stands for (the whitepaper's
AuthorizationKey on the wire); --password-text sends the text's UTF-8 bytes. With
--userinfo the credentials go in the URI (user:password@host), which websockets turns into
the Authorization header itself; otherwise the header is built here.
"""

import argparse
import asyncio
import base64
import json
import ssl
import sys
import urllib.parse
from pathlib import Path

import websockets
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import (Action, CertificateSignedStatus, ConfigurationStatus, MessageTrigger, ResetStatus,
                            TriggerMessageStatus)


def emit(event, **fields):
    print(json.dumps({"event": event, **fields}), flush=True)


def describe(error):
    """The error and its causes, outermost first: "Type: message <- Type: message"."""
    parts = []
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        parts.append(f"{type(error).__name__}: {error}")
        error = error.__cause__ or error.__context__
    return " <- ".join(parts)


class SecurityChargePoint(ChargePoint):
    """Answers the calls the security features make, and records them."""

    def __init__(self, charge_point_id, connection, session, response_timeout):
        super().__init__(charge_point_id, connection, response_timeout=response_timeout)
        self.session = session

    @on(Action.reset)
    def on_reset(self, type, **kwargs):
        self.session.report.setdefault("resets", []).append(type)
        emit("reset", type=type)
        return call_result.Reset(status=ResetStatus.accepted)

    @on(Action.change_configuration)
    def on_change_configuration(self, key, value, **kwargs):
        status = self.session.args.change_configuration_status
        self.session.report.setdefault("configuration_changes", []).append(
            {"key": key, "value": value, "answered": status})
        if key == "AuthorizationKey" and status == ConfigurationStatus.accepted:
            self.session.new_key_hex = value
        emit("change_configuration", key=key, value=value, answered=status)
        return call_result.ChangeConfiguration(status=status)

    @on(Action.extended_trigger_message)
    def on_extended_trigger_message(self, requested_message, **kwargs):
        emit("extended_trigger_message", requested_message=requested_message)
        if requested_message == MessageTrigger.sign_charge_point_certificate:
            return call_result.ExtendedTriggerMessage(status=TriggerMessageStatus.accepted)
        return call_result.ExtendedTriggerMessage(status=TriggerMessageStatus.not_implemented)

    @after(Action.extended_trigger_message)
    def after_extended_trigger_message(self, requested_message, **kwargs):
        if requested_message == MessageTrigger.sign_charge_point_certificate:
            self.session.background.append(asyncio.create_task(self.session.sign()))

    @on(Action.certificate_signed)
    def on_certificate_signed(self, certificate_chain, **kwargs):
        status = self.session.accept_chain(certificate_chain)
        return call_result.CertificateSigned(status=status)


class Session:
    def __init__(self, args):
        self.args = args
        self.report = {"connections": []}
        self.new_key_hex = None
        self.key = None
        self.chain_received = None
        self.point = None
        self.listener = None
        self.socket = None
        self.closing = False
        self.background = []

    # -- connecting -------------------------------------------------------------------------

    def password(self):
        """The password bytes for the next connection, or None for no credentials."""
        if self.new_key_hex is not None:
            return bytes.fromhex(self.new_key_hex)
        if self.args.password_hex is not None:
            return bytes.fromhex(self.args.password_hex)
        if self.args.password_text is not None:
            return self.args.password_text.encode()
        return None

    def ssl_context(self):
        if not self.args.url.startswith("wss://"):
            return None
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.args.ca)
        if self.args.cert:
            context.load_cert_chain(self.args.cert, self.args.key)
        if self.args.tls_version == "1.1":
            # Old protocols need OpenSSL's lowest security level to be offered at all.
            context.set_ciphers("DEFAULT:@SECLEVEL=0")
            context.minimum_version = ssl.TLSVersion.TLSv1_1
            context.maximum_version = ssl.TLSVersion.TLSv1_1
        elif self.args.tls_version == "1.2":
            context.maximum_version = ssl.TLSVersion.TLSv1_2
        elif self.args.tls_version == "1.3":
            context.minimum_version = ssl.TLSVersion.TLSv1_3
        if self.args.ciphers:
            context.set_ciphers(self.args.ciphers)
        return context

    async def connect(self):
        """One connection attempt; True when the WebSocket is open and the charger booted."""
        url = self.args.url.rstrip("/") + "/" + urllib.parse.quote(self.args.id, safe="")
        headers = {}
        password = self.password()
        user = self.args.user if self.args.user is not None else self.args.id
        if password is not None:
            if self.args.userinfo:
                scheme, rest = url.split("://", 1)
                userinfo = urllib.parse.quote(user, safe="") + ":" + urllib.parse.quote(password.decode(), safe="")
                url = f"{scheme}://{userinfo}@{rest}"
            else:
                token = base64.b64encode(user.encode() + b":" + password).decode()
                headers["Authorization"] = "Basic " + token
        attempt = {"password_hex": password.hex().upper() if password is not None else None}
        self.report["connections"].append(attempt)
        try:
            self.socket = await websockets.connect(
                url, subprotocols=["ocpp1.6"], additional_headers=headers, ssl=self.ssl_context(),
                proxy=None, open_timeout=15)
        except websockets.exceptions.InvalidStatus as error:
            attempt.update(connected=False, http_status=error.response.status_code,
                           www_authenticate=error.response.headers.get("WWW-Authenticate"))
            emit("refused", http_status=error.response.status_code, error=describe(error))
            return False
        except Exception as error:  # a TLS handshake that fails, a reset, a timeout
            attempt.update(connected=False, http_status=None, error=describe(error))
            emit("refused", http_status=None, error=describe(error))
            return False
        attempt["connected"] = True
        attempt["subprotocol"] = self.socket.subprotocol
        transport = self.socket.transport.get_extra_info("ssl_object")
        attempt["tls_version"] = transport.version() if transport is not None else None
        self.point = SecurityChargePoint(self.args.id, self.socket, self, response_timeout=self.args.response_timeout)
        self.listener = asyncio.create_task(self.listen(self.point, attempt))
        try:
            boot = await self.point.call(call.BootNotification(charge_point_vendor="Interop",
                                                               charge_point_model="Py-Sec",
                                                               firmware_version="2.1.0"))
        except Exception as error:  # closed by the server, or no answer
            attempt["boot_error"] = describe(error)
            emit("boot_failed", error=describe(error))
            return False
        attempt["boot_status"] = boot.status
        emit("ready", boot_status=boot.status)
        return True

    async def listen(self, point, attempt):
        try:
            await point.start()
        except websockets.exceptions.ConnectionClosed as closed:
            attempt["close_code"] = closed.rcvd.code if closed.rcvd else None
            attempt["closed_by"] = "charger" if self.closing else "server"
            emit("closed", code=attempt["close_code"], by=attempt["closed_by"])

    async def disconnect(self):
        if self.socket is None:
            return
        self.closing = True
        await self.socket.close()
        if self.listener is not None:
            await asyncio.gather(self.listener, return_exceptions=True)
        self.socket = None
        self.listener = None
        self.closing = False

    # -- certificates -----------------------------------------------------------------------

    async def sign(self):
        try:
            await self.sign_once()
        except Exception as error:
            self.report["sign_error"] = describe(error)
            emit("sign_failed", error=describe(error))

    async def sign_once(self):
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([
            x509.NameAttribute(NameOID.COMMON_NAME, self.args.csr_common_name or self.args.id),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Interop CPO"),
        ])
        csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(self.key, hashes.SHA256())
        self.chain_received = asyncio.get_running_loop().create_future()
        answer = await self.point.call(call.SignCertificate(
            csr=csr.public_bytes(serialization.Encoding.PEM).decode()))
        self.report["sign_certificate_status"] = answer.status
        emit("sign_certificate", status=answer.status)
        if answer.status != "Accepted":
            return
        chain = await asyncio.wait_for(self.chain_received, timeout=30)
        self.report["certificate_chain"] = chain
        emit("certificate_signed", certificate_chain=chain)

    def accept_chain(self, chain):
        """Checks the chain belongs to the key of the CSR; saves both when it does."""
        try:
            certificates = x509.load_pem_x509_certificates(chain.encode())
            leaf = certificates[0]
            ours = self.key is not None and leaf.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            ) == self.key.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
            names = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
            self.report["leaf_common_name"] = names[0].value if names else None
            self.report["leaf_matches_key"] = ours
            self.report["chain_length"] = len(certificates)
        except Exception as error:
            self.report["chain_error"] = describe(error)
            ours = False
        if ours and self.args.save_dir:
            directory = Path(self.args.save_dir)
            (directory / "signed-chain.pem").write_text(chain)
            (directory / "signed-key.pem").write_bytes(self.key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        if self.chain_received is not None and not self.chain_received.done():
            self.chain_received.set_result(chain)
        return CertificateSignedStatus.accepted if ours else CertificateSignedStatus.rejected

    # -- the session ------------------------------------------------------------------------

    async def commands(self):
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            command = line.strip()
            if command in ("", "quit"):
                return
            if command == "sign":
                await self.sign()
            elif command == "reconnect":
                await self.disconnect()
                await self.connect()
            else:
                emit("unknown_command", command=command)

    async def run(self):
        await self.connect()
        if self.args.stay:
            await self.commands()
        await asyncio.gather(*self.background, return_exceptions=True)
        await self.disconnect()
        emit("report", **self.report)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("url", help="ws://host:port/ocpp or wss://..., the id is appended")
    parser.add_argument("id")
    parser.add_argument("--user", help="the Basic user name (default: the id)")
    parser.add_argument("--password-hex")
    parser.add_argument("--password-text")
    parser.add_argument("--userinfo", action="store_true", help="credentials in the URI")
    parser.add_argument("--ca", help="CA file the server's certificate is verified against")
    parser.add_argument("--cert", help="client certificate (chain) file")
    parser.add_argument("--key", help="client key file")
    parser.add_argument("--tls-version", choices=["1.1", "1.2", "1.3"], help="only this TLS version")
    parser.add_argument("--ciphers", help="the TLS 1.2 cipher suites offered (OpenSSL names)")
    parser.add_argument("--stay", action="store_true")
    parser.add_argument("--change-configuration-status", default=ConfigurationStatus.accepted)
    parser.add_argument("--csr-common-name", help="the CSR's common name (default: the id)")
    parser.add_argument("--save-dir")
    parser.add_argument("--response-timeout", type=float, default=30, help="seconds to wait for an answer")
    asyncio.run(Session(parser.parse_args()).run())


if __name__ == "__main__":
    main()
