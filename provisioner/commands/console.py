"""`provisioner console`: the admin console (page + JSON API) for one registry or a fleet.

    provisioner console (--fleet FILE | --repo DIR --registry NAME) [--store DIR | --jenkins-url URL]
                        [--listen 127.0.0.1:8080] [--push REMOTE/BRANCH]
                        [--auth-proxy CIDR ... | --tokens FILE] [--access FILE] [--audit-log FILE]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from provisioner.commands._job import registry_name
from provisioner.commands._source import DEFAULT_VALUES_PATH, add_policy_argument, load_policy_from_args
from provisioner.commands._target import add_connection_arguments
from provisioner.errors import ExitCode, UsageError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "console",
        help="serve the admin console: edit a registry's backup settings, saved as a git commit",
        description="Serve the registries' backup page and its JSON API (/api/v1). A save changes only "
        "global.registryBackup in values.yaml, commits it with the signed-in admin as author and pushes "
        "it to the branch's upstream (or --push REMOTE/BRANCH). Sign-in comes from the platform's OIDC "
        "proxy (--auth-proxy: X-Forwarded-User/-Email/-Groups, believed only from those addresses) or "
        "bearer tokens (--tokens). Runs until interrupted; exit 2 on usage errors.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--fleet", metavar="FILE", type=Path, help="a fleet file: every registry in it")
    source.add_argument("--repo", metavar="DIR", type=Path, help="one registry's git repository (a checkout)")
    parser.add_argument("--registry", type=registry_name, metavar="NAME", help="the registry (with --repo)")
    parser.add_argument(
        "--values-path", metavar="P", default=None, help=f"with --repo (default {DEFAULT_VALUES_PATH})"
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--store", metavar="DIR", type=Path, help="the archive backup store: backups shown")
    where.add_argument("--jenkins-url", metavar="URL", help="Jenkins: the job's last successful build")
    add_connection_arguments(parser)
    parser.add_argument(
        "--listen", metavar="ADDR:PORT", default="127.0.0.1:8080", help="default 127.0.0.1:8080"
    )
    parser.add_argument(
        "--push", metavar="REMOTE/BRANCH", default=None, help="push saves here (default: the upstream)"
    )
    auth = parser.add_mutually_exclusive_group()
    auth.add_argument(
        "--auth-proxy",
        metavar="CIDR",
        nargs="+",
        default=[],
        help="addresses of the sign-in proxy whose X-Forwarded-User/-Email/-Groups headers are believed",
    )
    auth.add_argument("--tokens", metavar="FILE", type=Path, help="bearer tokens (their SHA-256) and users")
    parser.add_argument(
        "--access", metavar="FILE", type=Path, help="registries -> the users and groups administering them"
    )
    parser.add_argument("--audit-log", metavar="FILE", type=Path, help="append one JSON line per save")
    add_policy_argument(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from provisioner.console.app import create_app
    from provisioner.console.auth import parse_networks
    from provisioner.console.service import Console
    from provisioner.console.setup import (
        NoFacts,
        load_access,
        load_tokens,
        parse_listen,
        parse_push,
        serve,
        source_from_repo,
        sources_from_fleet,
    )
    from provisioner.console.state import FactsSource, JenkinsFacts, StoreFacts

    if args.repo is not None and args.registry is None:
        raise UsageError("--repo needs --registry NAME")
    if args.fleet is not None and (args.registry is not None or args.values_path is not None):
        raise UsageError("--registry and --values-path go with --repo; the fleet file names its registries")
    host, port = parse_listen(args.listen)
    push = parse_push(args.push) if args.push is not None else None
    networks = parse_networks(args.auth_proxy)
    tokens = load_tokens(args.tokens)
    if args.fleet is not None:
        registries = sources_from_fleet(args.fleet, push)
    else:
        registries = source_from_repo(args.repo, args.registry, args.values_path, push)
    facts: FactsSource = NoFacts()
    if args.store is not None:
        if not args.store.is_dir():
            raise UsageError(f"--store {args.store} is not a directory")
        facts = StoreFacts(args.store)
    elif args.jenkins_url is not None:
        from provisioner.commands._target import build_http_target

        facts = JenkinsFacts(build_http_target(args))
    console = Console(
        registries=registries,
        policy=load_policy_from_args(args),
        facts=facts,
        networks=networks,
        tokens=tokens,
        access=load_access(args.access, sorted(registries)),
        audit_log=args.audit_log,
    )
    serve(create_app(console), host, port)
    return int(ExitCode.OK)
