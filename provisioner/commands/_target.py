"""CLI helpers shared by every command that talks to Jenkins: where it is and how to log in.

``reconcile``, ``reconcile-all`` and ``status`` take the same options, so they are defined once here.
Credentials come from JENKINS_USER/JENKINS_TOKEN or --user/--token-file, never from argv values.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from provisioner.errors import UsageError

if TYPE_CHECKING:
    from provisioner.jenkins.home import JenkinsHomeTarget
    from provisioner.jenkins.http import HttpTarget

MAX_TOKEN_BYTES = 4096


def add_target_arguments(parser: argparse.ArgumentParser, *, allow_home: bool = True) -> None:
    """--jenkins-url (or --jenkins-home when ``allow_home``) and the connection options."""
    where = parser.add_mutually_exclusive_group(required=True) if allow_home else parser
    where.add_argument(
        "--jenkins-url", metavar="URL", help="Jenkins base URL (private hosts only by default)"
    )
    if allow_home:
        where.add_argument(
            "--jenkins-home",
            metavar="DIR",
            type=Path,
            help="write into a JENKINS_HOME directory instead of calling Jenkins",
        )
    add_connection_arguments(parser)


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--user", metavar="NAME", default=None, help="Jenkins user (default $JENKINS_USER)")
    parser.add_argument(
        "--token-file",
        metavar="FILE",
        type=Path,
        default=None,
        help="file holding the Jenkins API token (default $JENKINS_TOKEN)",
    )
    parser.add_argument(
        "--ca-bundle",
        metavar="FILE",
        type=Path,
        default=None,
        help="CA certificates to verify Jenkins's TLS certificate with",
    )
    parser.add_argument(
        "--allow-public-jenkins", action="store_true", help="allow a Jenkins on a public host (https only)"
    )
    parser.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=float,
        default=30.0,
        help="each request's whole time, from connect to the last byte (default 30)",
    )


def credentials(args: argparse.Namespace) -> tuple[str | None, str | None]:
    environ = getattr(args, "environ", os.environ)
    user = args.user if args.user is not None else environ.get("JENKINS_USER") or None
    token: str | None
    if args.token_file is not None:
        try:
            with args.token_file.open("rb") as handle:
                raw = handle.read(MAX_TOKEN_BYTES + 1)
        except OSError as exc:
            raise UsageError(f"cannot read --token-file {args.token_file}: {exc.strerror or exc}") from exc
        if len(raw) > MAX_TOKEN_BYTES:
            raise UsageError(f"--token-file {args.token_file} is too large to be a token")
        token = raw.decode("utf-8", "replace").strip() or None
    else:
        token = environ.get("JENKINS_TOKEN") or None
    if (user is None) != (token is None):
        raise UsageError(
            "give both a Jenkins user and a token (JENKINS_USER + JENKINS_TOKEN, or --user + --token-file)"
        )
    return user, token


def build_http_target(args: argparse.Namespace, *, pool_size: int = 10) -> HttpTarget:
    """The HTTP target for --jenkins-url; checks the endpoint policy before anything is sent."""
    from provisioner.jenkins.endpoint import check_jenkins_url
    from provisioner.jenkins.http import HttpTarget
    from provisioner.jenkins.retry import RetryPolicy
    from provisioner.jobs.render import render_folder_config

    url = check_jenkins_url(args.jenkins_url, allow_public=args.allow_public_jenkins)
    if args.ca_bundle is not None and not args.ca_bundle.is_file():
        raise UsageError(f"--ca-bundle {args.ca_bundle} is not a file")
    if not 0 < args.timeout <= 600:
        raise UsageError("--timeout must be between 0 and 600 seconds")
    user, token = credentials(args)
    return HttpTarget(
        url,
        folder_config=render_folder_config,
        username=user,
        token=token,
        ca_bundle=args.ca_bundle,
        retry=RetryPolicy(timeout=args.timeout),
        pool_size=pool_size,
    )


def build_target(args: argparse.Namespace, *, pool_size: int = 10) -> HttpTarget | JenkinsHomeTarget:
    """The target named on the command line (--jenkins-home or --jenkins-url).

    ``pool_size``: keep-alive connections kept for concurrent requests (one per worker thread).
    """
    if getattr(args, "jenkins_home", None) is not None:
        from provisioner.jenkins.home import JenkinsHomeTarget
        from provisioner.jobs.render import render_folder_config

        return JenkinsHomeTarget(args.jenkins_home, folder_config=render_folder_config)
    return build_http_target(args, pool_size=pool_size)
