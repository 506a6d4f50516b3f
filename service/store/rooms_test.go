package store

import (
	"errors"
	"fmt"
	"testing"
)

// Rooms come a page at a time, in ListRooms' order; the creator is kept
// and counted; MemberRooms lists only memberships.
func TestRoomPages(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			s := open(t, b.newURL(t))
			ctx := t.Context()
			for i := 0; i < 23; i++ {
				// Names repeat: the cursor must also order by id.
				r := Room{ID: fmt.Sprintf("r%02d", i), Name: fmt.Sprintf("Room %d", i%7), Public: i%5 != 0}
				if i < 12 {
					r.CreatedBy = "creator"
				}
				if _, err := s.CreateRoom(ctx, r); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.AddMember(ctx, "r05", "u"); err != nil { // private, member
				t.Fatal(err)
			}
			if err := s.AddMember(ctx, "r01", "u"); err != nil {
				t.Fatal(err)
			}
			all, err := s.ListRooms(ctx, "u")
			if err != nil {
				t.Fatal(err)
			}
			var paged []RoomEntry
			cursor := ""
			for pages := 0; ; pages++ {
				got, next, err := s.ListRoomsPage(ctx, "u", cursor, 5)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) > 5 || pages > 10 {
					t.Fatalf("page of %d, page %d", len(got), pages)
				}
				paged = append(paged, got...)
				if next == "" {
					break
				}
				cursor = next
			}
			if len(paged) != len(all) || len(all) != 19 { // 18 public + r05
				t.Fatalf("paged %d rooms, listed %d", len(paged), len(all))
			}
			for i := range all {
				if paged[i].ID != all[i].ID || paged[i].Member != all[i].Member {
					t.Fatalf("room %d: paged %+v, listed %+v", i, paged[i], all[i])
				}
			}
			if _, _, err := s.ListRoomsPage(ctx, "u", "!!not a cursor", 5); !errors.Is(err, ErrInvalid) {
				t.Fatalf("bad cursor: %v", err)
			}
			if n, err := s.CountRoomsCreatedBy(ctx, "creator"); err != nil || n != 12 {
				t.Fatalf("created by: %d %v", n, err)
			}
			if n, err := s.CountRoomsCreatedBy(ctx, "nobody"); err != nil || n != 0 {
				t.Fatalf("created by nobody: %d %v", n, err)
			}
			mine, err := s.MemberRooms(ctx, "u", 10)
			if err != nil || len(mine) != 2 {
				t.Fatalf("member rooms: %+v %v", mine, err)
			}
			if one, _ := s.MemberRooms(ctx, "u", 1); len(one) != 1 {
				t.Fatalf("member rooms limit: %+v", one)
			}
		})
	}
}
