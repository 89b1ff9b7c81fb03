"""The engine contract: operations, array types and limits, problem-JSON."""
