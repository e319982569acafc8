"""ABC Inc.'s Timesheets platform."""
