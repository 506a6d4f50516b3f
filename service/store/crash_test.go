package store

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/heraldio/herald/test/support"
)

// crashChildEnv names the database a re-executed test binary writes to
// until it is killed.
const crashChildEnv = "HERALD_STORE_CRASH_CHILD"

// TestAckedMessagesSurviveKill runs a writer in a child process, kills it
// with SIGKILL once it has acknowledged enough messages, and checks that
// every acknowledged message is in the reopened database. The child keeps
// writing from several goroutines, so the kill lands amid batches.
func TestAckedMessagesSurviveKill(t *testing.T) {
	if url := os.Getenv(crashChildEnv); url != "" {
		crashChild(url)
		return
	}
	const acks = 300
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			url := b.newURL(t)
			s := open(t, url)
			mustRoom(t, s, "r", true)
			s.Close()

			cmd := exec.Command(os.Args[0], "-test.run=^TestAckedMessagesSurviveKill$", "-test.count=1")
			cmd.Env = append(os.Environ(), crashChildEnv+"="+url)
			out := support.StartProcess(t, cmd)
			killed := false
			defer func() {
				if !killed {
					cmd.Process.Kill()
					cmd.Wait()
				}
			}()
			var acked []string
			lines := bufio.NewScanner(out)
			for len(acked) < acks && lines.Scan() {
				if id := lines.Text(); len(id) == IDLen {
					acked = append(acked, id)
				}
			}
			if len(acked) < acks {
				t.Fatalf("child stopped after %d acks: %v", len(acked), lines.Err())
			}
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
			err := cmd.Wait()
			if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
				t.Fatalf("child did not die of SIGKILL: %v", err)
			}

			s = open(t, url)
			stored := map[string]bool{}
			for after := ""; ; {
				page, err := s.MessagesSince(t.Context(), "r", after, MaxLimit)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) == 0 {
					break
				}
				for _, m := range page {
					stored[m.ID] = true
				}
				after = page[len(page)-1].ID
			}
			for i, id := range acked {
				if !stored[id] {
					t.Fatalf("acked message %d (%s) lost: %d of %d acked messages stored", i, id, countIn(stored, acked), len(acked))
				}
			}
			t.Logf("%d acked messages all stored (%d stored in all)", len(acked), len(stored))
		})
	}
}

func countIn(set map[string]bool, ids []string) int {
	n := 0
	for _, id := range ids {
		if set[id] {
			n++
		}
	}
	return n
}

// crashChild writes messages to room "r" from 8 goroutines and prints the
// id of each as soon as CreateMessage returns, until it is killed.
func crashChild(url string) {
	ctx := context.Background()
	s, err := Open(ctx, url)
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(2)
	}
	var mu sync.Mutex
	w := bufio.NewWriter(os.Stdout)
	for g := range 8 {
		go func() {
			for i := 0; ; i++ {
				m, err := s.CreateMessage(ctx, Message{RoomID: "r", AuthorID: "u1", Content: fmt.Sprint(g, "-", i)})
				if err != nil {
					fmt.Fprintln(os.Stderr, "crash child:", err)
					os.Exit(2)
				}
				mu.Lock()
				w.WriteString(m.ID + "\n")
				w.Flush()
				mu.Unlock()
			}
		}()
	}
	time.Sleep(time.Minute) // the parent kills us long before
	os.Exit(3)
}
