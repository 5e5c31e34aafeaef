package janitor

// TrackedLen returns how many tracked objects j holds entries for.
func TrackedLen(j *Janitor) int { return j.tracker.len() }
