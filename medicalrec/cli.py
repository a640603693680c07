"""The ``medicalrec`` command line. Thin: parse, call the library, print.

Heavy libraries (torch, mlflow, onnxruntime, sklearn) are imported inside commands so that
``medicalrec --help`` answers instantly. Every ``MedicalRecError`` becomes one line on stderr and exit
code 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys

import click

from medicalrec import __version__
from medicalrec.errors import MedicalRecError, ValidationError

EXIT_USER_ERROR = 2


class _Group(click.Group):
    """A click group that turns library errors into one clear line and exit code 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ValidationError as error:
            click.echo(f"error: {error}", err=True)
            if len(error.problems) > 1:
                click.echo(error.report(), err=True)
            sys.exit(EXIT_USER_ERROR)
        except MedicalRecError as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(EXIT_USER_ERROR)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="medicalrec")
def main() -> None:
    """Recommend which classifier to train for a medical image classification task,
    from published results, without retraining anything.

    \b
    Typical flow:
      medicalrec bench describe FILE      what is in a bench file
      medicalrec evaluate --data FILE     compare recommenders with cross-validation
      mlflow run . -e train               train, export to ONNX, register
      medicalrec promote                  move the production alias (quality-gated)
      medicalrec score --input tasks.csv  nightly batch recommendations
    """


@main.group(cls=_Group)
def bench() -> None:
    """Inspect, validate and generate MedicalRec-Bench files."""
