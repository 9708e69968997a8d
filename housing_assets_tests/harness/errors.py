"""The error a failed step raised, as text, from a Dagster execution result."""


def step_error(result) -> str:
    """The first failed step's message, with its cause's (what the user reads in the UI)."""
    failure = next(e for e in result.all_events if e.is_step_failure)
    error = failure.step_failure_data.error
    return error.message + (error.cause.message if error.cause else "")


def failure_text(result) -> str:
    """Every failure event's full error text (message, cause and stack), joined."""
    return " ".join(
        str(e.event_specific_data.error.to_string()) for e in result.all_events if e.is_failure
    )
