package auth_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/heraldio/herald/service/auth"
)

func Example() {
	secret := []byte("a development secret of 32 bytes")
	token, err := auth.Mint(secret, auth.User{ID: "u1", Name: "Ann", Roles: []string{"admin"}}, time.Hour)
	if err != nil {
		panic(err)
	}
	v, err := auth.NewVerifier(context.Background(), auth.Options{HS256Secret: secret})
	if err != nil {
		panic(err)
	}
	u, err := v.Verify(context.Background(), token)
	fmt.Println(u.ID, u.Name, u.HasRole("admin"), err)

	_, err = v.Verify(context.Background(), token+"x")
	fmt.Println(errors.Is(err, auth.ErrInvalidToken))
	// Output:
	// u1 Ann true <nil>
	// true
}
