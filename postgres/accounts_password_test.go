package postgres

import (
	"sync"
	"testing"
)

// TestPasswordHashingIsBounded: however many sign-ins arrive at once, at
// most cap(hashSlots) argon2id computations (19 MiB each) run together, and
// every one of them still answers correctly.
func TestPasswordHashingIsBounded(t *testing.T) {
	t.Parallel()
	hash := hashPassword("correct horse battery")
	var wg sync.WaitGroup
	wrong := make(chan string, 64)
	for i := range 4 * cap(hashSlots) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if ok := verifyPassword(hash, "correct horse battery"); !ok {
				wrong <- "the right password was refused"
			}
			if ok := verifyPassword(hash, "wrong horse battery "+string(rune('a'+i%26))); ok {
				wrong <- "a wrong password was accepted"
			}
		}()
	}
	wg.Wait()
	close(wrong)
	for w := range wrong {
		t.Fatal(w)
	}
	if peak := int(hashPeak.Load()); peak < 1 || peak > cap(hashSlots) {
		t.Fatalf("%d argon2id computations ran at once, bound %d", peak, cap(hashSlots))
	}
}
