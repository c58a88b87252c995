"""The long-running hospital agent."""
