"""NextToken / MaxResults paging for ListCommands and ListDocuments."""

import json

import pytest
from botocore.exceptions import ClientError

from compat_helpers import error_code, unique_name, wait_command


def _tamper(token: str) -> str:
    return "x" + token[::-1] + "~!"


def _collect(call, result_key, id_key, max_results, **kwargs):
    """Follow NextToken by hand; return (ids in order, page sizes, first NextToken)."""
    ids, sizes, first_token = [], [], None
    token = None
    for _ in range(1000):
        args = dict(kwargs, MaxResults=max_results)
        if token:
            args["NextToken"] = token
        resp = call(**args)
        page = resp.get(result_key, [])
        sizes.append(len(page))
        ids.extend(item[id_key] for item in page)
        token = resp.get("NextToken")
        if first_token is None:
            first_token = token
        if not token:
            return ids, sizes, first_token
    raise AssertionError("paging did not terminate")


def test_list_commands_pages_with_next_token_until_exhausted(ssm, instances):
    sent = []
    for n in range(7):
        resp = ssm.send_command(
            DocumentName="AWS-RunShellScript",
            InstanceIds=[instances[n % 3]],
            Parameters={"commands": [f"echo page-{n}"]},
        )
        sent.append(resp["Command"]["CommandId"])
    assert len(set(sent)) == 7

    ids, sizes, first_token = _collect(ssm.list_commands, "Commands", "CommandId", 2)
    assert all(size <= 2 for size in sizes), sizes
    assert len(sizes) >= 4, sizes  # at least 7 commands at 2 per page
    assert first_token
    assert len(ids) == len(set(ids)), "duplicate CommandIds across pages"
    assert set(sent) <= set(ids)

    pager_ids = []
    for page in ssm.get_paginator("list_commands").paginate(PaginationConfig={"PageSize": 3}):
        assert len(page["Commands"]) <= 3
        pager_ids.extend(c["CommandId"] for c in page["Commands"])
    assert len(pager_ids) == len(set(pager_ids))
    assert set(sent) <= set(pager_ids)

    # MaxItems on top of PageSize: botocore builds its own resume token
    first = ssm.get_paginator("list_commands").paginate(
        PaginationConfig={"PageSize": 3, "MaxItems": 4}).build_full_result()
    assert len(first["Commands"]) == 4
    rest = ssm.get_paginator("list_commands").paginate(
        PaginationConfig={"PageSize": 3, "StartingToken": first["NextToken"]}).build_full_result()
    resumed = [c["CommandId"] for c in first["Commands"] + rest["Commands"]]
    assert len(resumed) == len(set(resumed))
    assert set(sent) <= set(resumed)

    with pytest.raises(ClientError) as exc:
        ssm.list_commands(MaxResults=2, NextToken=_tamper(first_token))
    assert error_code(exc.value) == "InvalidNextToken"

    for cid in sent:
        wait_command(ssm, cid, timeout=60)


def _doc_content(n: int) -> str:
    return json.dumps({
        "schemaVersion": "2.2",
        "description": f"paging doc {n}",
        "mainSteps": [{
            "action": "aws:runShellScript",
            "name": "run",
            "inputs": {"runCommand": [f"echo doc-{n}"]},
        }],
    })


def test_list_documents_pages_with_next_token_until_exhausted(ssm):
    names = [unique_name(f"CompatPaging{n}") for n in range(3)]
    for n, name in enumerate(names):
        ssm.create_document(Content=_doc_content(n), Name=name, DocumentType="Command",
                            DocumentFormat="JSON")
    try:
        listed, sizes, first_token = _collect(ssm.list_documents, "DocumentIdentifiers", "Name", 2)
        assert all(size <= 2 for size in sizes), sizes
        assert len(sizes) >= 2
        assert first_token
        assert len(listed) == len(set(listed)), "duplicate documents across pages"
        assert set(names) <= set(listed)
        assert "AWS-RunShellScript" in listed

        pager = []
        for page in ssm.get_paginator("list_documents").paginate(PaginationConfig={"PageSize": 2}):
            assert len(page["DocumentIdentifiers"]) <= 2
            pager.extend(d["Name"] for d in page["DocumentIdentifiers"])
        assert sorted(pager) == sorted(listed)

        with pytest.raises(ClientError) as exc:
            ssm.list_documents(MaxResults=2, NextToken=_tamper(first_token))
        assert error_code(exc.value) == "InvalidNextToken"
    finally:
        for name in names:
            ssm.delete_document(Name=name)
