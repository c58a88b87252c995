"""Secure aggregation: no single party sees a hospital's update."""
