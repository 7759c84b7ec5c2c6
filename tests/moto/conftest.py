"""The moto tier: our code called directly (no state machine) against moto for AWS, and the
loopback Tiqets simulator where Tiqets is needed. The real state machine on the local stack is
tests/workflow; plain Python is tests/unit."""
