"""A NextToken continues after the last item returned, even when new items arrive in between."""

from compat_helpers import run_shell


def test_new_commands_between_pages_cause_no_duplicates(ssm, instances):
    target = instances[0]
    for _ in range(4):
        run_shell(ssm, [target], ["true"])
    first = ssm.list_commands(MaxResults=2)
    seen = [c["CommandId"] for c in first["Commands"]]
    run_shell(ssm, [target], ["true"])  # newest first: this one lands before the cursor
    second = ssm.list_commands(MaxResults=2, NextToken=first["NextToken"])
    more = [c["CommandId"] for c in second["Commands"]]
    assert not set(seen) & set(more)
    assert len(more) == 2
