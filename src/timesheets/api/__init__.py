"""The Timesheets API: a resource server for timesheet entries."""
