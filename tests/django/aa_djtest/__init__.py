"""A test-only Django app: a conversation model the shipped contract suites can drive."""
