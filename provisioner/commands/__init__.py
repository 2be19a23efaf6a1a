"""One module per `provisioner` subcommand.

Each module defines ``ORDER: int`` (position in ``--help``) and
``register(subparsers) -> None``, which adds its parser and sets ``handler`` via
``parser.set_defaults(handler=run)`` where ``run(args: argparse.Namespace) -> int``.
Modules must keep top-level imports light (stdlib only): import heavy libraries
(requests, jenkins, git, jinja2) inside ``run`` so ``validate``/``next-runs`` start fast.
"""
