"""What proves the tracker rather than runs it: the search for secrets where they must never be
(leaks.py) and the load rounds that drive the local stack and check every order (load.py).

Used by tests/ and bench/soak.py only; the demo and the command line never import them.
"""
