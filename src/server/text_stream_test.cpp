#include "server/text_stream.hpp"

#include <gtest/gtest.h>

namespace llama2::server {
namespace {

TEST(TextStream, WithoutStopsEverythingIsReadyAtOnce) {
  TextStream s;
  EXPECT_FALSE(s.append("Once"));
  EXPECT_EQ(s.take_ready(), "Once");
  EXPECT_EQ(s.take_ready(), "");
  EXPECT_FALSE(s.append(" upon"));
  EXPECT_EQ(s.take_ready(), " upon");
  EXPECT_EQ(s.take_rest(), "");
  EXPECT_EQ(s.text(), "Once upon");
}

TEST(TextStream, StopSequenceAcrossPiecesNeverReachesTheClient) {
  TextStream s({"o w"});
  std::string sent;
  EXPECT_FALSE(s.append("Hel"));
  sent += s.take_ready();
  EXPECT_TRUE(s.append("lo wor"));  // completes "o w"
  sent += s.take_ready();
  sent += s.take_rest();
  EXPECT_EQ(sent, "Hell");
  EXPECT_EQ(s.text(), "Hell");
  EXPECT_TRUE(s.stopped());
  EXPECT_TRUE(s.append("ld"));  // nothing more is taken after a stop
  EXPECT_EQ(s.text(), "Hell");
}

TEST(TextStream, PossibleStopPrefixIsHeldBackUntilDecided) {
  TextStream s({"END"});
  s.append("abc E");
  EXPECT_EQ(s.take_ready(), "abc ");
  s.append("N");
  EXPECT_EQ(s.take_ready(), "");
  s.append("x");  // "ENx" is not the stop sequence after all
  EXPECT_EQ(s.take_ready(), "ENx");
  EXPECT_TRUE(s.append(" ... END and more"));
  EXPECT_EQ(s.take_ready() + s.take_rest(), " ... ");
  EXPECT_EQ(s.text(), "abc ENx ... ");
}

TEST(TextStream, AtTheEndHeldBytesAreSent) {
  TextStream s({"END"});
  s.append("the E");
  EXPECT_EQ(s.take_ready(), "the ");
  EXPECT_EQ(s.take_rest(), "E");
}

TEST(TextStream, EarliestStopWins) {
  TextStream s({"cd", "b"});
  EXPECT_TRUE(s.append("abcd"));
  EXPECT_EQ(s.text(), "a");
}

TEST(TextStream, StopInsideOnePiece) {
  TextStream s({"\n\n"});
  EXPECT_TRUE(s.append("line\n\nnext"));
  EXPECT_EQ(s.take_ready(), "line");
}

TEST(TextStream, Utf8CharactersAreNeverSplit) {
  TextStream s;
  s.append("a\xE2\x96");  // the first two bytes of U+2581
  EXPECT_EQ(s.take_ready(), "a");
  s.append("\x81" "b");
  EXPECT_EQ(s.take_ready(), "\xE2\x96\x81" "b");
  s.append("\xF0\x9F");
  EXPECT_EQ(s.take_ready(), "");
  EXPECT_EQ(s.take_rest(), "\xF0\x9F");  // the end: send what there is
}

TEST(TextStream, CompleteUtf8Prefix) {
  EXPECT_EQ(complete_utf8_prefix(""), 0u);
  EXPECT_EQ(complete_utf8_prefix("abc"), 3u);
  EXPECT_EQ(complete_utf8_prefix("a\xC3"), 1u);
  EXPECT_EQ(complete_utf8_prefix("a\xC3\xA9"), 3u);
  EXPECT_EQ(complete_utf8_prefix("\xE2\x96"), 0u);
  EXPECT_EQ(complete_utf8_prefix("\xF0\x9F\x98"), 0u);
  EXPECT_EQ(complete_utf8_prefix("\xF0\x9F\x98\x80"), 4u);
  EXPECT_EQ(complete_utf8_prefix("a\x80"), 2u);  // a stray continuation byte will not improve
}

}  // namespace
}  // namespace llama2::server
