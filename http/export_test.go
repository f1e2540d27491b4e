package http

import "context"

// CallJSON sends a request to any API path and decodes the reply into out
// (raw bytes for a *[]byte): for tests that send what the typed methods
// cannot, or call routes by path.
func (c *Client) CallJSON(ctx context.Context, method, path string, in, out any) error {
	return c.call(ctx, method, path, in, out)
}

// ForgetBoards empties the board cache, for benchmarks of a cold render.
func (s *Server) ForgetBoards() {
	s.boards.mu.Lock()
	defer s.boards.mu.Unlock()
	s.boards.tasks, s.boards.held = nil, 0
}
