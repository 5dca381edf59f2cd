"""``python -m mtl_text COMMAND ...`` (and ``accelerate launch -m mtl_text train ...``)."""

from .cli import main

main()
