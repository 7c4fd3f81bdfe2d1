"""What autoorder writes and reads back, as versioned dataclasses (results.json, benchmark.json).

Every writer builds these records and every reader loads them through `from_json`, which checks
each key once and names the file and the key on failure, so readers never guess. Plain Python:
reports read results without importing TensorFlow.
"""
