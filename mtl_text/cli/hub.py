"""``mtl-text push-to-hub``: upload a saved model folder to the Hugging Face Hub as a model repository,
with its model card (README.md), whose commands then name the Hub id. Prints the commit's URL, whose
last part is the commit hash (with --create-pr, the pull request's URL). Load it back anywhere with
``mtl-text predict --model OWNER/NAME`` or ``Predictor.from_pretrained("OWNER/NAME")``;
``OWNER/NAME@REVISION`` pins a branch, tag or commit."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..arguments import Arguments, token_option
from .parsing import ArgumentParser


@dataclass
class PushArguments(Arguments):
    model: str = field(metadata={"help": "the model folder written by training"})
    repo_id: str = field(metadata={"help": "the Hub repository, OWNER/NAME (created if it does not exist), or OWNER/NAME@BRANCH to "
                                           "commit to a branch (created from main if it does not exist)"})
    private: bool = field(default=False, metadata={"help": "create the repository private"})
    create_pr: bool = field(default=False, metadata={
        "help": "open a pull request with the upload instead of committing to the branch; until it is merged the model reads as "
                "OWNER/NAME@refs/pr/N (the pull request's URL is printed)"})
    token: str | None = token_option("write to the repository")
    commit_message: str = field(default="Upload mtl-text model", metadata={"help": "the commit's message"})
    license: str | None = field(default=None, metadata={
        "help": "the model's license in the card's metadata, as the Hub names licenses (apache-2.0, mit, cc-by-4.0, other, ...); "
                "default: the license the card states, if any"})


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    from ..modeling.hub import push_to_hub

    (args,), _ = ArgumentParser(PushArguments, prog=prog, description=__doc__.split(":", 1)[1].strip()).parse(argv)
    print(push_to_hub(args.model, args.repo_id, token=args.token, private=args.private, commit_message=args.commit_message,
                      create_pr=args.create_pr, license=args.license))
    return 0


if __name__ == "__main__":
    from . import exit_with

    exit_with(main)
