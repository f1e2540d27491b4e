"""The smallest valid agent: it changes nothing.

Useful as a baseline (it should resolve no problem) and to test the
pipeline without a model.
"""


def agent_main(input_dict):
    return {"patch": ""}
