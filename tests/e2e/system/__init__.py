"""System tests against a deployment started by ``tests.e2e.deploy``: journeys and fault drills."""
