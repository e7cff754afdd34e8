package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"strconv"

	"github.com/nngen/nngen/runtime"
)

// gray is a grayscale image with values in [0, 1], row-major.
type gray struct {
	w, h int
	pix  []float64
}

func (g *gray) at(x, y int) float64 { return g.pix[y*g.w+x] }

// maxSide bounds the images accepted, against decompression bombs.
const maxSide = 4096

// maxFileBytes bounds an image file: a text PGM of maxSide² values of up to
// five characters each.
const maxFileBytes = 5 * maxSide * maxSide

// readImage reads a PNG or a PGM (P2 or P5) file.
func readImage(path string) (*gray, error) {
	f, err := runtime.OpenRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxFileBytes {
		return nil, fmt.Errorf("%s: over %d bytes, larger than any image of at most %d×%d pixels", path, maxFileBytes, maxSide, maxSide)
	}
	var g *gray
	switch {
	case bytes.HasPrefix(b, []byte("\x89PNG")):
		g, err = decodePNG(b)
	case bytes.HasPrefix(b, []byte("P5")) || bytes.HasPrefix(b, []byte("P2")):
		g, err = decodePGM(b)
	default:
		err = errors.New("not a PNG or PGM (P2/P5) image")
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return g, nil
}

func decodePNG(b []byte) (*gray, error) {
	cfg, err := png.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	if cfg.Width > maxSide || cfg.Height > maxSide {
		return nil, fmt.Errorf("%dx%d is larger than %dx%d", cfg.Width, cfg.Height, maxSide, maxSide)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	r := img.Bounds()
	g := &gray{w: r.Dx(), h: r.Dy(), pix: make([]float64, r.Dx()*r.Dy())}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			g.pix[(y-r.Min.Y)*g.w+x-r.Min.X] = luminance(img, x, y)
		}
	}
	return g, nil
}

// luminance is a pixel's gray level in [0, 1] (ITU-R BT.601 weights),
// composited over black where it is transparent.
func luminance(img image.Image, x, y int) float64 {
	r, g, b, _ := img.At(x, y).RGBA()
	return (0.299*float64(r) + 0.587*float64(g) + 0.114*float64(b)) / 0xffff
}

// decodePGM reads binary (P5) and plain (P2) PGM with maxval up to 65535.
func decodePGM(b []byte) (*gray, error) {
	r := bufio.NewReader(bytes.NewReader(b))
	magic, _ := token(r)
	var vals [3]int
	for i := range vals {
		t, err := token(r)
		if err != nil {
			return nil, fmt.Errorf("truncated PGM header")
		}
		v, err := strconv.Atoi(t)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("bad PGM header value %q", t)
		}
		vals[i] = v
	}
	w, h, maxv := vals[0], vals[1], vals[2]
	if w > maxSide || h > maxSide || maxv > 65535 {
		return nil, fmt.Errorf("PGM %dx%d maxval %d is out of range", w, h, maxv)
	}
	g := &gray{w: w, h: h, pix: make([]float64, w*h)}
	for i := range g.pix {
		var v int
		switch {
		case magic == "P2":
			t, err := token(r)
			if err != nil {
				return nil, fmt.Errorf("PGM data ends at pixel %d of %d", i, w*h)
			}
			if v, err = strconv.Atoi(t); err != nil {
				return nil, fmt.Errorf("bad PGM pixel %q", t)
			}
		case maxv < 256:
			c, err := r.ReadByte()
			if err != nil {
				return nil, fmt.Errorf("PGM data ends at pixel %d of %d", i, w*h)
			}
			v = int(c)
		default:
			var two [2]byte
			if _, err := io.ReadFull(r, two[:]); err != nil {
				return nil, fmt.Errorf("PGM data ends at pixel %d of %d", i, w*h)
			}
			v = int(two[0])<<8 | int(two[1])
		}
		if v < 0 || v > maxv {
			return nil, fmt.Errorf("PGM pixel %d is %d, above maxval %d", i, v, maxv)
		}
		g.pix[i] = float64(v) / float64(maxv)
	}
	return g, nil
}

// token reads the next whitespace-separated PGM token, skipping # comments.
// For P5 the single whitespace byte after maxval is consumed with it.
func token(r *bufio.Reader) (string, error) {
	var t []byte
	for {
		c, err := r.ReadByte()
		if err != nil {
			if len(t) > 0 {
				return string(t), nil
			}
			return "", err
		}
		switch {
		case c == '#' && len(t) == 0:
			for c != '\n' {
				if c, err = r.ReadByte(); err != nil {
					return "", err
				}
			}
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if len(t) > 0 {
				return string(t), nil
			}
		default:
			t = append(t, c)
		}
	}
}

// toMNIST turns an image of one handwritten digit into MNIST's format: a
// light digit on a dark background, its bounding box scaled (keeping the
// aspect ratio, averaging the pixels each output pixel covers) to fit 20×20,
// and placed in a 28×28 image so that its centre of mass is at the centre,
// as the MNIST data were prepared.
func toMNIST(g *gray) (*[28 * 28]float64, error) {
	mean := 0.0
	for _, v := range g.pix {
		mean += v
	}
	mean /= float64(len(g.pix))
	ink := func(x, y int) float64 {
		v := g.at(x, y)
		if mean > 0.5 { // dark digit on a light background
			v = 1 - v
		}
		return v
	}
	x0, y0, x1, y1 := g.w, g.h, -1, -1
	for y := 0; y < g.h; y++ {
		for x := 0; x < g.w; x++ {
			if ink(x, y) > 0.2 {
				x0, y0, x1, y1 = min(x0, x), min(y0, y), max(x1, x), max(y1, y)
			}
		}
	}
	if x1 < 0 {
		return nil, errors.New("no digit found: the image has no ink")
	}
	bw, bh := float64(x1-x0+1), float64(y1-y0+1)
	scale := 20 / max(bw, bh)
	ow, oh := max(1, int(bw*scale+0.5)), max(1, int(bh*scale+0.5))
	// Area-average resampling of the box into ow×oh.
	box := make([]float64, ow*oh)
	for oy := 0; oy < oh; oy++ {
		for ox := 0; ox < ow; ox++ {
			sx0, sx1 := float64(x0)+float64(ox)/scale, float64(x0)+float64(ox+1)/scale
			sy0, sy1 := float64(y0)+float64(oy)/scale, float64(y0)+float64(oy+1)/scale
			var sum, area float64
			for y := int(sy0); y < int(sy1+0.999999) && y < g.h; y++ {
				for x := int(sx0); x < int(sx1+0.999999) && x < g.w; x++ {
					a := (min(sx1, float64(x+1)) - max(sx0, float64(x))) * (min(sy1, float64(y+1)) - max(sy0, float64(y)))
					if a > 0 {
						sum += a * ink(x, y)
						area += a
					}
				}
			}
			if area > 0 {
				box[oy*ow+ox] = sum / area
			}
		}
	}
	var mass, cx, cy float64
	for y := 0; y < oh; y++ {
		for x := 0; x < ow; x++ {
			v := box[y*ow+x]
			mass += v
			cx += v * (float64(x) + 0.5)
			cy += v * (float64(y) + 0.5)
		}
	}
	cx, cy = cx/mass, cy/mass
	// Offsets that put the centre of mass at (14, 14), kept inside the frame.
	offX := min(max(int(14-cx+0.5), 0), 28-ow)
	offY := min(max(int(14-cy+0.5), 0), 28-oh)
	var out [28 * 28]float64
	for y := 0; y < oh; y++ {
		for x := 0; x < ow; x++ {
			out[(y+offY)*28+x+offX] = box[y*ow+x]
		}
	}
	return &out, nil
}
