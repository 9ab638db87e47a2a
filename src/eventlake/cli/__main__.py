"""`python -m eventlake.cli`."""

from eventlake.cli.main import main

main()
