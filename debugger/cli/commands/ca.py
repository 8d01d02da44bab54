"""`segdbg ca`: the local CA of intercept mode: where it is, and how to trust it (docs/intercept.md)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import click

from debugger.cli.options import ca_dir_option, resolve_ca_dir
from debugger.core.http.hosts import INTERCEPTED_HOSTS
from debugger.core.http.routes import DEFAULT_INTERCEPT_PORT

INSTALL_HINT = """\
Trust segdbg's intercept CA only where you debug; anyone with its key ({key})
can impersonate any site to that client. Remove the trust when you are done.

Python (requests, segment-analytics-python):
  export HTTPS_PROXY=http://127.0.0.1:{port}
  export REQUESTS_CA_BUNDLE={cert}

Node (@segment/analytics-node; Node >= 24 also honours the proxy variables with NODE_USE_ENV_PROXY=1):
  export NODE_EXTRA_CA_CERTS={cert}
  export HTTPS_PROXY=http://127.0.0.1:{port} NODE_USE_ENV_PROXY=1

Chromium / Chrome (Linux: the user's NSS store; needs libnss3-tools):
  certutil -d sql:$HOME/.pki/nssdb -A -t "C,," -n segdbg -i {cert}
  chromium --proxy-server=http://127.0.0.1:{port}
  (macOS: add it to the login keychain, trusted for SSL; Firefox: Settings > Certificates > Import)

Android emulator (API 24+: apps trust user CAs only if their network_security_config says so; debug builds can):
  adb push {cert} /sdcard/Download/segdbg-ca.pem   # then Settings > Security > Encryption & credentials > Install a certificate > CA certificate
  emulator -avd NAME -http-proxy http://127.0.0.1:{port}    # or, inside a running one: adb shell settings put global http_proxy 10.0.2.2:{port}
  (segdbg serve --intercept needs --host 0.0.0.0 --allow-remote only for a real phone on your LAN)

iOS simulator (uses the Mac's proxy settings; System Settings > Network > Proxies > HTTPS: 127.0.0.1:{port}):
  xcrun simctl keychain booted add-root-cert {cert}

Intercepted hosts: {hosts}. Every other host is tunnelled untouched (or refused with --intercept-others refuse).
"""


@click.command("ca")
@click.option("--path", "show_path", is_flag=True, help="Print only the CA certificate's path (creating the CA first).")
@click.option("--install-hint", is_flag=True, help="Say how to trust the CA in Python, Node, Chromium, Android, iOS.")
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=DEFAULT_INTERCEPT_PORT,
    show_default=True,
    help="The intercept port the hints name.",
)
@ca_dir_option
def command(show_path: bool, install_hint: bool, port: int, ca_dir: Path | None) -> None:
    """Show intercept mode's local certificate authority, creating it on first use.

    `segdbg serve --intercept` terminates TLS for Segment's hosts with certificates signed by this
    CA, so a client must trust it. It lives in your config directory (its private key is mode 0600
    and never leaves it); with no option this prints its path, fingerprint and validity.

    \b
    Examples:
      segdbg ca                       # path, SHA-256 fingerprint, validity
      segdbg ca --path                # just the path: REQUESTS_CA_BUNDLE=$(segdbg ca --path)
      segdbg ca --install-hint        # how to trust it: Python, Node, Chromium, Android, iOS
    """
    # Lazily: `cryptography` is only needed by intercept mode (kept off `segdbg --help`).
    from cryptography.hazmat.primitives.serialization import Encoding

    # Lazily: the server part loads aiohttp and cryptography (kept off `segdbg --help`).
    from debugger.server.ca import CAError, CertificateAuthority

    authority = CertificateAuthority(resolve_ca_dir(ca_dir))
    try:
        cert = authority.ensure()
    except CAError as exc:
        raise click.ClickException(str(exc)) from exc
    if show_path:
        click.echo(str(authority.cert_path))
        return
    if install_hint:
        click.echo(
            INSTALL_HINT.format(
                cert=authority.cert_path, key=authority.key_path, port=port, hosts=", ".join(sorted(INTERCEPTED_HOSTS))
            ),
            nl=False,
        )
        return
    fingerprint = hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest().upper()
    click.echo(f"CA certificate: {authority.cert_path}")
    click.echo(f"Private key:    {authority.key_path} (mode 0600; never copy it)")
    click.echo(f"SHA-256:        {':'.join(fingerprint[i : i + 2] for i in range(0, len(fingerprint), 2))}")
    click.echo(f"Valid:          {cert.not_valid_before_utc:%Y-%m-%d} to {cert.not_valid_after_utc:%Y-%m-%d}")
    click.echo("How to trust it: segdbg ca --install-hint")
