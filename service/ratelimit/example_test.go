package ratelimit_test

import (
	"fmt"

	"github.com/heraldio/herald/service/ratelimit"
)

func ExampleEventLimiter() {
	rules := ratelimit.DefaultRules()
	rules.Strikes = 3
	limits, err := ratelimit.NewEventLimiter(rules, nil)
	if err != nil {
		panic(err)
	}
	for i := range 13 {
		d := limits.Allow("socket-1", "send-message")
		if !d.Allowed {
			fmt.Println(i, "denied, disconnect:", d.Disconnect)
		}
	}
	// Output:
	// 10 denied, disconnect: false
	// 11 denied, disconnect: false
	// 12 denied, disconnect: true
}
