"""The message that resumes an orchestrator names each child and cuts long results."""

from __future__ import annotations

from codegen_mcp.prompts import delivery_prompt


def _child(task_id: str, **fields: object) -> dict[str, object]:
    return {
        "task_id": task_id,
        "agent_run_id": 41001,
        "state": "completed",
        "web_url": "https://codegen.com/agent/trace/41001",
        **fields,
    }


def test_each_child_is_labelled_with_its_links_and_outcome() -> None:
    text = delivery_prompt(
        [
            _child(
                "a1", result="Done.", pull_requests=[{"url": "https://github.com/acme/demo/pull/7"}]
            ),
            _child("b2", state="failed", error="boom", agent_run_id=None, web_url=None),
            _child("c3", state="paused", result="Which database?"),
        ],
        max_result=100,
    )
    assert "3 child agent runs" in text
    assert text.index("a1") < text.index("b2") < text.index("c3")
    assert "### 1. Child task a1 (agent run 41001): COMPLETED" in text
    assert "Pull request: https://github.com/acme/demo/pull/7" in text
    assert (
        "### 2. Child task b2 (agent run never started): FAILED" in text and "Error: boom" in text
    )
    assert "Question (the child waits for input):\nWhich database?" in text


def test_long_results_are_cut_with_a_pointer_to_the_full_text() -> None:
    text = delivery_prompt([_child("a1", result="x" * 5000)], max_result=100)
    assert "x" * 100 in text and "x" * 101 not in text
    assert "cut at 100 of 5000 characters" in text
    assert "task_status of task a1" in text and "https://codegen.com/agent/trace/41001" in text
