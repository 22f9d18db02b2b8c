// Parse an Adaptive Card (JSON on stdin) with Microsoft's Adaptive Cards library and print
// what it reports: parse events (unknown element or action types, bad values) and validation
// failures, plus the card as the library serialises it back.
const AC = require("adaptivecards/dist/adaptivecards.js");

let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const json = JSON.parse(input);
  const context = new AC.SerializationContext();
  const card = new AC.AdaptiveCard();
  card.parse(json, context);
  const problems = [];
  for (let i = 0; i < context.eventCount; i++) {
    const e = context.getEventAt(i);
    problems.push({ event: e.event, message: e.message });
  }
  const results = card.validateProperties();
  for (const e of results.validationEvents) problems.push({ event: e.event, message: e.message });
  console.log(JSON.stringify({ problems, version: card.version.toString(), card: card.toJSON() }));
});
