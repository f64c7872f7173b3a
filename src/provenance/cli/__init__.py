"""The ``provenance`` command: a thin click layer over the Python API.

Heavy libraries (torch, faiss, pyarrow) are imported inside commands, never here,
so ``provenance --help`` and start-up stay fast.
"""

from __future__ import annotations

import os
import sys

import click

from .. import __version__
from ..errors import DISK_FULL_ERRNOS, ProvenanceError


class _Failure(click.ClickException):
    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    click.echo(f"warning: {message}", err=True)


class ProvenanceGroup(click.Group):
    """Turns :class:`ProvenanceError` into a one-line message and its exit code; no tracebacks."""

    def invoke(self, ctx: click.Context):
        import warnings

        try:
            with warnings.catch_warnings():
                # Warnings are messages for the user: one line each, without the source line Python adds.
                warnings.showwarning = _show_warning
                return super().invoke(ctx)
        except ProvenanceError as exc:
            raise _Failure(str(exc), exc.exit_code) from None
        except KeyboardInterrupt:
            click.echo("\nInterrupted. Index builds and reports resume where they stopped: re-run the same command.", err=True)
            sys.exit(130)
        except BrokenPipeError:  # before OSError, of which it is one: `provenance ... | head` is no failure
            sys.exit(0)
        except OSError as exc:
            if exc.errno in DISK_FULL_ERRNOS:
                raise _Failure(f"no space left on the device (writing {exc.filename or 'output'}): free some space and "
                               "re-run the same command; index builds and reports resume where they stopped", 1) from None
            raise


@click.group(cls=ProvenanceGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="provenance")
def cli() -> None:
    """Trace AI-generated images to their nearest training images and the sources that published them.

    \b
    Quick start (offline, no weights needed):
      provenance demo
    Real use:
      provenance index people --from 'laion/{00000..00099}.tar' --encoder open_clip:ViT-B-32/laion2b_s34b_b79k
      provenance trace generated.png --index people
      provenance report generations.csv --index people --group-by model,cohort -o report/

    Nearest neighbours show resemblance, not proven influence.
    """


def _register() -> None:
    from .demo_cmd import demo_cmd
    from .index_cmd import index_cmd, info_cmd
    from .report_cmd import report_cmd
    from .sources_cmd import sources_group
    from .trace_cmd import trace_cmd

    for command in (index_cmd, info_cmd, trace_cmd, report_cmd, sources_group, demo_cmd):
        cli.add_command(command)


_register()


def main() -> None:
    try:
        cli(prog_name="provenance", standalone_mode=True)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    else:
        code = 0
    # Every command has closed (and fsynced) what it wrote by now. Skipping the interpreter's
    # teardown saves about a second after torch and FAISS were loaded: the CLI's start-to-end time
    # is what users wait for.
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)
