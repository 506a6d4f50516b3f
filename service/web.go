package service

import (
	"net/http"

	"github.com/heraldio/herald/web"
)

// webHandler serves the demo app (built from web/src, embedded).
func webHandler() http.Handler { return web.Handler() }
