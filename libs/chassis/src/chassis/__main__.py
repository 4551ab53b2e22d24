"""`python -m chassis`: the `bazaar` command.

The supervisor starts its children this way rather than with `-m chassis.cli`: a child
forked from `bazaar up` has `chassis.cli` imported already, and running an imported module
as `__main__` would execute it twice (runpy warns about exactly that).
"""

from chassis.cli import main

main()
