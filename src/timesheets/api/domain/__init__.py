"""Domain rules of timesheet entries: pure, no IO."""
