"""One module per `provisioner` subcommand, listed in ``provisioner.cli.COMMANDS``.

Each module defines ``register(subparsers) -> None``, which adds its parser and sets ``handler`` via
``parser.set_defaults(handler=run)`` where ``run(args: argparse.Namespace) -> int``; ``args.environ``
is the environment the CLI was given. Modules keep top-level imports light (stdlib only): heavy
libraries (urllib3, pygit2, jinja2, pydantic) are imported inside ``run`` so
``validate``/``next-runs`` start fast.
"""
