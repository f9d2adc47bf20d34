/* text: see text.h. */
#include "text.h"

bool text_has_control(const char *s, unsigned int flags)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '\t' && (flags & TEXT_ALLOW_TAB))
			continue;
		if (c < 0x20 || c == 0x7f)
			return true;
	}
	return false;
}
