"""Secure aggregation: no single party sees a hospital's update (issue 7, in progress)."""
