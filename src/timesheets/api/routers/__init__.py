"""HTTP routes of the Timesheets API."""
