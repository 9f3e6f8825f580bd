"""The `unimse` console script: every stage command, as dvc.yaml calls it, for humans too.

Commands are imported only when run, so `unimse --help` stays fast and importing this module does
no work. Each entry's one-line description is the first line of the command's docstring (a test
checks that they agree).
"""

from __future__ import annotations

import importlib

import click

import unimse_core

# name -> (module in stages/, one-line description shown by `unimse --help`)
COMMANDS: dict[str, tuple[str, str]] = {
    "check": ("stages.check", "Check every params.yaml group before any stage runs; a bad key stops `dvc repro` with nothing removed."),
    "synthesize": ("stages.synthesize", "Write the embedded synthetic raw data in the real file formats."),
    "fetch": ("stages.fetch", "Download missing raw files, verify hashes and structure, write the report."),
    "verify": ("stages.verify", "Check files against the manifest and their structure; fail naming each problem."),
    "embed": ("stages.embed", "Encode every utterance with the sentence encoder of embed.encoder."),
    "labels": ("stages.labels", "Transfer the missing label slots from nearest neighbours: the universal labels."),
    "preprocess": ("stages.preprocess", "Turn one dataset's raw features and universal labels into an HDF5 file of model rows."),
    "merge": ("stages.merge", "Merge the preprocessed datasets of merge.combination into one training file."),
    "tokenizer": ("stages.tokenizer", "Train the scratch tokenizer on the training texts, or copy the backbone's."),
    "train": ("stages.train", "Train UniMSE, select the checkpoint on the dev set, write the selected model."),
    "evaluate": ("stages.evaluate", "Evaluate the selected model on every test set: predictions and test metrics."),
    "report": ("stages.report", "Write the run's report: test metrics beside the paper's, data, labels, training, figures."),
    "predict": ("stages.predict", "Universal labels of one utterance (--text) or of a CSV/JSONL file of utterances or conversations."),
    "preflight": ("stages.preflight", "Check a run's settings, files and machine before training; estimate the run's time."),
    "aggregate": ("stages.aggregate", "Mean and standard deviation of test metrics over several runs (seeds)."),
    "package": ("stages.package", "Put the selected model and its model card (README.md) in one folder, ready to upload."),
    "compare": ("stages.compare", "Compare two runs (or two sets of seeds): differences, paired-bootstrap intervals, p-values."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module = importlib.import_module(COMMANDS[name][0])
        return getattr(module, "command")

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, summary) for name, (_module, summary) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(unimse_core.__version__, prog_name="unimse")
def main() -> None:
    """unimse: the UniMSE pipeline (universal labels, preprocessing, training, evaluation).

    Every command is one DVC stage; `dvc repro` runs them in order with the paths of dvc.yaml and
    the parameters of params.yaml.
    """


if __name__ == "__main__":
    main()
