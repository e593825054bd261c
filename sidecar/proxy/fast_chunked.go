package proxy

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httputil"
	"net/textproto"
)

// chunkedBody decodes a chunked response body and, at its end, reads the
// trailer section into resp.Trailer (net/http/httputil's reader stops
// before the trailers).
type chunkedBody struct {
	br   *bufio.Reader
	resp *http.Response
	cr   io.Reader
	done bool
}

func (c *chunkedBody) Read(p []byte) (int, error) {
	if c.done {
		return 0, io.EOF
	}
	if c.cr == nil {
		c.cr = httputil.NewChunkedReader(c.br)
	}
	n, err := c.cr.Read(p)
	if err == io.EOF {
		c.done = true
		mh, terr := textproto.NewReader(c.br).ReadMIMEHeader()
		if terr != nil {
			return n, io.ErrUnexpectedEOF
		}
		if len(mh) > 0 {
			if c.resp.Trailer == nil {
				c.resp.Trailer = http.Header{}
			}
			for k, v := range mh {
				c.resp.Trailer[k] = v
			}
		}
	}
	return n, err
}
