// libpng 1.6's simplified API (png_image_*), which reports errors in the png_image instead of
// longjmp-ing out (Debian: libpng-dev; zlib comes with it as zlib1g-dev).
#include <png.h>
