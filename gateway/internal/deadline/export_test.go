package deadline

// SetTripHook makes the watchdog call f in the window between finding a
// deadline passed and tripping it; the returned func removes it.
func SetTripHook(f func()) (remove func()) {
	testHookTrip.Store(&f)
	return func() { testHookTrip.Store(nil) }
}
