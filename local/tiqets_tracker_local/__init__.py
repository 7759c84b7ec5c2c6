"""Local-only tooling: the Tiqets simulator, the local stack on moto and the command line.

Nothing here ships in a Lambda bundle (template.yaml's CodeUri is functions/).
"""
