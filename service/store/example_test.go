package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/heraldio/herald/service/store"
)

func Example() {
	dir, _ := os.MkdirTemp("", "herald")
	defer os.RemoveAll(dir)
	ctx := context.Background()

	s, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "herald.db"))
	if err != nil {
		panic(err)
	}
	defer s.Close()
	if _, err := s.EnsureRoom(ctx, store.Room{ID: "general", Name: "General", Public: true}); err != nil {
		panic(err)
	}
	for _, text := range []string{"one", "two", "three"} {
		if _, err := s.CreateMessage(ctx, store.Message{RoomID: "general", AuthorID: "u1", Content: text}); err != nil {
			panic(err)
		}
	}
	page, next, _ := s.History(ctx, "general", "", 2)
	fmt.Println(page[0].Content, page[1].Content)
	page, next, _ = s.History(ctx, "general", next, 2)
	fmt.Println(page[0].Content, next == "")
	// Output:
	// three two
	// one true
}
